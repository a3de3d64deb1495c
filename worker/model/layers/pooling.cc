#include "worker/model/layers/pooling.h"
