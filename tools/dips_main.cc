// `dips`: one program, git-style subcommands. Each subcommand's flags are
// defined in its own *_main.cc; this file only dispatches and prints help.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "common/malloc_tuning.h"
#include "tools/subcommands.h"

namespace {

struct Subcommand {
  const char* name;
  const char* summary;
  const char* flags_file;  // flags defined in files matching this are shown
  int (*run)(int, char**);
  const char* more_flags_file = nullptr;  // a second file whose flags apply too
  // Flags defined by another subcommand that this one reads too (gflags
  // allows one definition per name); null-terminated, may be null.
  const char* const* borrowed_flags = nullptr;
};

const char* const kCheckpointDiffBorrowedFlags[] = {"checkpoint_dir", "checkpoint", nullptr};

const Subcommand kSubcommands[] = {
    {"train", "train Base, DIN or DIEN and evaluate AUC/GAUC/logloss", "worker/train_main",
     dips::RunTrain},
    {"dist-train",
     "distributed training under mpirun/srun: the first --num_servers ranks serve, the rest train",
     "worker/dist_train_main", dips::RunDistTrain, "worker/train_main"},
    {"gen", "write the built-in synthetic behaviour dataset", "tools/gen_main", dips::RunGen},
    {"convert", "convert MovieLens or Amazon raw data into behaviour logs",
     "tools/convert_main", dips::RunConvert},
    {"export", "checkpoint -> serving bundle (sorted rows, dense model, manifest)",
     "tools/export_main", dips::RunExport},
    {"checkpoint-diff",
     "compare checkpoint --checkpoint under --checkpoint_dir with the rows dumped after a "
     "restore (--rows_dir), row by row",
     "tools/checkpoint_diff_main", dips::RunCheckpointDiff, nullptr, kCheckpointDiffBorrowedFlags},
    {"predict",
     "score a behaviour log with a serving bundle, one probability per line "
     "(--batch_size, default 256)",
     "tools/predict_main", dips::RunPredict},
};

void PrintUsage() {
  std::printf("usage: dips <command> [--flags]\n\ncommands:\n");
  for (const Subcommand& s : kSubcommands) std::printf("  %-15s %s\n", s.name, s.summary);
  std::printf("  %-15s %s\n", "help", "this text; `dips help CMD` or `dips CMD --help` for flags");
}

bool Borrowed(const Subcommand& s, const std::string& flag) {
  for (const char* const* name = s.borrowed_flags; name != nullptr && *name != nullptr; ++name) {
    if (flag == *name) return true;
  }
  return false;
}

// Prints the flags defined in the subcommand's file, those it borrows and
// the shared ones.
void PrintSubcommandHelp(const Subcommand& s) {
  std::printf("usage: dips %s [--flags]\n%s\n\nflags:\n", s.name, s.summary);
  std::vector<gflags::CommandLineFlagInfo> flags;
  gflags::GetAllFlags(&flags);
  for (const auto& f : flags) {
    const bool own = f.filename.find(s.flags_file) != std::string::npos ||
                     (s.more_flags_file != nullptr &&
                      f.filename.find(s.more_flags_file) != std::string::npos);
    const bool shared = f.filename.find("tools/common_flags") != std::string::npos;
    if (!own && !shared && !Borrowed(s, f.name)) continue;
    std::printf("  --%s (%s)\n      %s\n      default: %s\n", f.name.c_str(), f.type.c_str(),
                f.description.c_str(), f.default_value.empty() ? "\"\"" : f.default_value.c_str());
  }
}

const Subcommand* Find(const char* name) {
  for (const Subcommand& s : kSubcommands) {
    if (std::strcmp(s.name, name) == 0) return &s;
  }
  return nullptr;
}

bool WantsHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0 ||
        std::strcmp(argv[i], "-help") == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  dips::TuneMalloc();  // before any thread starts (common/malloc_tuning.h says why)
  gflags::SetUsageMessage("dips <command> [--flags]; see `dips help`");
  if (argc < 2 || std::strcmp(argv[1], "help") == 0 || std::strcmp(argv[1], "--help") == 0 ||
      std::strcmp(argv[1], "-h") == 0) {
    if (argc >= 3) {
      if (const Subcommand* s = Find(argv[2])) {
        PrintSubcommandHelp(*s);
        return 0;
      }
    }
    PrintUsage();
    return argc < 2 ? 2 : 0;
  }
  const Subcommand* sub = Find(argv[1]);
  if (sub == nullptr) {
    std::fprintf(stderr, "dips: unknown command '%s'\n\n", argv[1]);
    PrintUsage();
    return 2;
  }
  // Shift so the subcommand sees argv[0] = "dips SUB".
  std::string name = std::string("dips ") + sub->name;
  char** sub_argv = argv + 1;
  sub_argv[0] = name.data();
  int sub_argc = argc - 1;
  if (WantsHelp(sub_argc, sub_argv)) {
    PrintSubcommandHelp(*sub);
    return 0;
  }
  FLAGS_logtostderr = true;
  gflags::ParseCommandLineFlags(&sub_argc, &sub_argv, /*remove_flags=*/true);
  google::InitGoogleLogging(name.c_str());
  return sub->run(sub_argc, sub_argv);
}
