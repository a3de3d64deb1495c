#include "worker/model/layers/embedding.h"
