#include "worker/model/layers/linear.h"
