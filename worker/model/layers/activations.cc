#include "worker/model/layers/activations.h"
