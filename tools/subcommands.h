// Entry points of the `dips` subcommands. Each lives in its own *_main.cc,
// which defines that subcommand's flags; tools/dips_main.cc dispatches. When
// one is called, the flags are already parsed and argv holds the positional
// arguments after the subcommand name (argv[0] = "dips SUB").
#ifndef DIPS_TOOLS_SUBCOMMANDS_H_
#define DIPS_TOOLS_SUBCOMMANDS_H_

namespace dips {

int RunConvert(int argc, char** argv);  // tools/convert_main.cc
int RunGen(int argc, char** argv);      // tools/gen_main.cc
int RunExport(int argc, char** argv);   // tools/export_main.cc
int RunCheckpointDiff(int argc, char** argv);  // tools/checkpoint_diff_main.cc
int RunPredict(int argc, char** argv);  // tools/predict_main.cc
int RunTrain(int argc, char** argv);    // worker/train_main.cc
int RunDistTrain(int argc, char** argv);  // worker/dist_train_main.cc (under mpirun)

}  // namespace dips

#endif  // DIPS_TOOLS_SUBCOMMANDS_H_
