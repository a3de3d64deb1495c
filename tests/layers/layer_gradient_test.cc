// Filled in by the MLP-layers work.
#include <gtest/gtest.h>
