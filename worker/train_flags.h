// The `dips train` flags (defined in worker/train_main.cc) as TrainerOptions,
// shared with `dips dist-train` so both read the same model/data/optimiser
// flags. Only *_main.cc files include this.
#ifndef DIPS_WORKER_TRAIN_FLAGS_H_
#define DIPS_WORKER_TRAIN_FLAGS_H_

#include "common/status.h"
#include "worker/train/trainer.h"

namespace dips {

// InvalidArgument naming the flag when a value is not valid.
StatusOr<TrainerOptions> TrainerOptionsFromFlags();

// OK when options.device can run models; else its error (Unavailable)
// with a message that starts with the flag, e.g. "--device=cuda: no usable
// GPU: ...". Workers call it before anything else.
Status CheckDeviceFlag(const TrainerOptions& options);

// Prints the final line(s) of a training run (report and test metrics).
void PrintTrainReport(const TrainReport& report, const TrainerOptions& options);

}  // namespace dips

#endif  // DIPS_WORKER_TRAIN_FLAGS_H_
