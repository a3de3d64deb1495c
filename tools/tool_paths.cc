#include "tools/tool_paths.h"

#include <filesystem>
#include <system_error>

namespace dips {

StatusOr<OutputPaths> PrepareOutputDir(const std::string& out_dir, bool compress) {
  if (out_dir.empty()) return InvalidArgumentError("--out_dir is required");
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return IOError(out_dir + ": cannot create directory: " + ec.message());
  if (!std::filesystem::is_directory(out_dir, ec)) {
    return IOError(out_dir + ": not a directory");
  }
  const std::string suffix = compress ? ".txt.gz" : ".txt";
  std::filesystem::path dir(out_dir);
  return OutputPaths{(dir / ("train" + suffix)).string(), (dir / ("test" + suffix)).string()};
}

}  // namespace dips
