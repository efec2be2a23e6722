/* placeholder */
#include "sink/sink.h"
const struct simlog_sink_ops simlog_sink_pg;
