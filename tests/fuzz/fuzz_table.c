/* SPDX-License-Identifier: MIT */
/*
 * fuzz_table - smx_table_parse on arbitrary input. The first byte picks
 * the table type; the rest is the table text. Every table that parses is
 * looked up with keys cut from the input, as they are and converted to
 * A-labels (smx_idn_key_domain, as secmx-lookup does), so lookups run on
 * hostile tables and hostile keys alike. The role counts of a role table
 * add up to its entries.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smx_idn.h"
#include "smx_log.h"
#include "smx_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum smx_table_type types[] = {
	SMX_TABLE_RECEIVER,
	SMX_TABLE_SENDER,
	SMX_TABLE_DESTINATION,
	SMX_TABLE_CCERT,
	SMX_TABLE_DOMAINS,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	struct smx_table *t = NULL;
	enum smx_table_type type;
	char err[256];
	char key[300];
	char alabels[SMX_DOMAIN_MAX + 1];
	size_t len;
	size_t i;

	if (size == 0)
		return 0;
	type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	len = size - 1;
	err[0] = '\0';
	if (smx_table_parse("fuzz", text, len, type, &t, err, sizeof(err)) !=
	    SMX_OK) {
		/* Every failure must say what and where. */
		if (strncmp(err, "fuzz", 4) != 0)
			smx_panic("no message for a failed parse");
		return 0;
	}
	/* Keys from the input: each line start, up to white space. */
	for (i = 0; i < len; i++) {
		size_t n = 0;

		if (i > 0 && text[i - 1] != '\n')
			continue;
		while (i + n < len && n < sizeof(key) - 1 &&
		    text[i + n] != ' ' && text[i + n] != '\t' &&
		    text[i + n] != '\n')
			n++;
		memcpy(key, text + i, n);
		key[n] = '\0';
		(void)smx_table_lookup_domain(t, key, n);
		(void)smx_table_lookup_domain(t, text + i, len - i);
		(void)smx_table_lookup_exact(t, key);
		if (smx_idn_key_domain(key, n, alabels, sizeof(alabels)) ==
		    SMX_OK)
			(void)smx_table_lookup_domain(t, alabels,
			    strlen(alabels));
	}
	if (smx_table_count(t) > len)
		smx_panic("more entries than bytes");
	if ((type == SMX_TABLE_RECEIVER &&
	        smx_table_count_role(t, "sor") +
	                smx_table_count_role(t, "ber") !=
	            smx_table_count(t)) ||
	    (type != SMX_TABLE_RECEIVER && smx_table_count_role(t, "sor") > 0))
		smx_panic("role counts do not add up");
	smx_table_free(t);
	return 0;
}
