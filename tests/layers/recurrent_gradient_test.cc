// Filled in by the recurrent-layers work.
#include <gtest/gtest.h>
