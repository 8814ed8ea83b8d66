package api

// IDPattern is the form of task, job and grain ids: letters, digits and
// _.:- , 1 to 128 bytes, starting with a letter or digit. Ids travel in
// URL paths and Consul keys, so they need no escaping and cannot climb
// out of their prefix. ValidID checks it by hand, because every submit
// and call checks one and a regexp costs more than the rest of the checks
// together.
const IDPattern = `^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`

// ValidID reports whether id matches IDPattern.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}
