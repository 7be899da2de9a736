#include "core/scsi/sbd_test_util.h"
