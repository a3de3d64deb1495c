#include "worker/model/layers/loss.h"
