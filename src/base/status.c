/* sw_strerror and sw_errname, generated from the one table in status.h. */
#include "steward/status.h"

const char *sw_strerror(int status)
{
    switch (status) {
#define SW__STATUS_MSG(name, value, msg) \
    case name:                           \
        return msg;
        SW_STATUS_MAP(SW__STATUS_MSG)
#undef SW__STATUS_MSG
    }
    return "unknown status";
}

const char *sw_errname(int status)
{
    switch (status) {
#define SW__STATUS_NAME(name, value, msg) \
    case name:                            \
        return #name;
        SW_STATUS_MAP(SW__STATUS_NAME)
#undef SW__STATUS_NAME
    }
    return "SW_E?";
}
