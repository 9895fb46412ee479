/*
 * conninfo_mask.h
 *		Hiding a connection string's secrets in a message about it.  Pure C
 *		(no backend headers, no libpq): unit tested outside the server.
 */
#ifndef SUPAMON_CONNINFO_MASK_H
#define SUPAMON_CONNINFO_MASK_H

/*
 * What the caller knows from a real parse of the conninfo (libpq's
 * PQconninfoParse), when it parses: the values of its secret options, masked
 * wherever they appear, and the values of its other options, which may be
 * shown where libpq quotes them.  Either list may be empty.
 */
typedef struct ConninfoMaskHints
{
	const char *const *secrets;
	int			nsecrets;
	const char *const *shown;
	int			nshown;
} ConninfoMaskHints;

/*
 * 'message' with the secrets of 'conninfo' (NULL: none) masked: a fragment
 * the message quotes ("...") is kept only if it is a plain word,
 * punctuation, a known non-secret value, or text that is not from the
 * conninfo, and touches no secret; every other quoted fragment becomes
 * "***".  Then every secret
 * found in the conninfo, however malformed (after a password or sslpassword
 * keyword whatever the separator, a URI's user:password@, a ?password=
 * parameter, percent-encoded or not), and each of its whitespace-separated
 * words of 4 or more characters, becomes "***" wherever it is.  Returns a
 * malloc'd string, or NULL when out of memory.
 */
extern char *ConninfoMask(const char *conninfo, const char *message,
						  const ConninfoMaskHints *hints);

#endif							/* SUPAMON_CONNINFO_MASK_H */
