// Output locations shared by `dips convert` and `dips gen`:
// <out_dir>/train.txt and <out_dir>/test.txt (".txt.gz" when compressed).
#ifndef DIPS_TOOLS_TOOL_PATHS_H_
#define DIPS_TOOLS_TOOL_PATHS_H_

#include <string>

#include "common/status.h"

namespace dips {

struct OutputPaths {
  std::string train;
  std::string test;
};

// Creates `out_dir` (and parents) when missing and returns the two paths.
StatusOr<OutputPaths> PrepareOutputDir(const std::string& out_dir, bool compress);

}  // namespace dips

#endif  // DIPS_TOOLS_TOOL_PATHS_H_
