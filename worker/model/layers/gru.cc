#include "worker/model/layers/gru.h"
