#include "worker/model/layers/attention_unit.h"
