#include "worker/model/layers/aux_loss.h"
