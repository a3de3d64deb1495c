#include "worker/model/layers/dice.h"
