// Flags shared by several `dips` subcommands, defined once here (gflags
// allows one definition per name) and declared where they are read.
#include <gflags/gflags.h>

DEFINE_uint64(seed, 1, "Seed: dense initialisation and negative sampling (train), data (gen), "
                       "train/test split (convert)");
DEFINE_int32(max_history, 100, "Keep the most recent N behaviours of each history "
                               "(gen: longest history generated, default 50 when not given)");
