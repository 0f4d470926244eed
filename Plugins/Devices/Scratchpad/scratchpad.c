#include "vmhost_plugin.h"
