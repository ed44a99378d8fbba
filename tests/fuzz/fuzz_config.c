/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config - smx_config_parse on arbitrary input, then checks that
 * what it accepted obeys the documented ranges.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smx_config.h"
#include "smx_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smx_config *cfg = NULL;
	char err[256];

	err[0] = '\0';
	if (smx_config_parse("fuzz", (const char *)data, size, &cfg, err,
	        sizeof(err)) != SMX_OK) {
		if (strncmp(err, "fuzz", 4) != 0)
			smx_panic("no message for a failed parse");
		return 0;
	}
	if (cfg->sor_reject_code < 400 || cfg->sor_reject_code > 599 ||
	    cfg->request_timeout < 1 || cfg->request_timeout > 3600 ||
	    cfg->idle_timeout < 1 || cfg->idle_timeout > 86400 ||
	    cfg->tls_min_protocol < SMX_TLS_1_0 ||
	    (cfg->default_sender_role != SMX_ROLE_BES &&
	        cfg->default_sender_role != SMX_ROLE_SOS))
		smx_panic("accepted a value out of range");
	if (cfg->receiver_roles_path != NULL &&
	    cfg->receiver_roles_path[0] != '/')
		smx_panic("accepted a relative path");
	smx_config_free(cfg);
	return 0;
}
