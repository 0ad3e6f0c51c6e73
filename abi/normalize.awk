# Normalises abidw's output for libwalstore.so (abi/abi.sh runs it) so that
# it holds the public C interface and nothing else:
#  - the types named in -v opaque="wal_t|wal_options" (the handles that
#    include/walstore.h declares as incomplete structs) become
#    declaration-only: their size and members are the library's business;
#  - only types reachable from the exported functions are kept (abidw also
#    writes unnamed types, such as arrays, that the suppressions cannot name);
#  - namespaces and translation units left empty go, and the remaining
#    translation units are renamed tu-1, tu-2, ... (their real names are
#    rustc's codegen-unit names, with crate hashes).
#
# abidw writes one XML element per line; an element with content closes with
# </tag> on a line of its own, at the indentation of its opening line. This
# script relies on that layout and on nothing else. POSIX awk (mawk too).

function tag_of(s,    t) {
    t = s
    sub(/^[ ]*<\/?/, "", t)
    sub(/[ \/>].*$/, "", t)
    return t
}

function indent_of(s) { return index(s, "<") }

function attr(s, name,    i, rest) {
    i = index(s, " " name "='")
    if (i == 0) return ""
    rest = substr(s, i + length(name) + 3)
    return substr(rest, 1, index(rest, "'") - 1)
}

# Appends every type-id='...' on line s to the string list *deps of unit u,
# or to the roots when u is "".
function collect_refs(s, u,    rest, i, id) {
    rest = s
    while ((i = index(rest, " type-id='")) > 0) {
        rest = substr(rest, i + 10)
        id = substr(rest, 1, index(rest, "'") - 1)
        if (u == "") roots = roots " " id
        else deps[u] = deps[u] " " id
    }
}

BEGIN {
    typetags = "^(type-decl|pointer-type-def|reference-type-def|qualified-type-def|array-type-def|typedef-decl|class-decl|union-decl|enum-decl|function-type|pointer-to-member-type)$"
    n = 0
}

{
    line = $0

    # Members of an opaque type: dropped up to its closing tag.
    if (skip_indent) {
        if (tag_of(line) == "class-decl" && line ~ /^[ ]*<\// && indent_of(line) == skip_indent) skip_indent = 0
        next
    }
    if (opaque != "" && line ~ ("^[ ]*<class-decl name='(" opaque ")' ")) {
        if (line !~ /\/>[ ]*$/) {
            sub(/>[ ]*$/, "/>", line)
            skip_indent = indent_of(line)
        }
        sub(/ size-in-bits='[0-9]+'/, "", line)
        sub(/ alignment-in-bits='[0-9]+'/, "", line)
        if (line !~ /is-declaration-only=/) sub(/ id=/, " is-declaration-only='yes' id=", line)
    }

    n++
    L[n] = line
    U[n] = unit

    if (unit != "") {
        # Inside a type definition: its nested ids and references are its own.
        id = attr(line, "id")
        if (id != "") unit_of[id] = unit
        collect_refs(line, unit)
        if (line ~ /^[ ]*<\// && tag_of(line) == unit_tag && indent_of(line) == unit_indent) unit = ""
        next
    }

    if (line !~ /^[ ]*<\// && tag_of(line) ~ typetags && attr(line, "id") != "") {
        id = attr(line, "id")
        unit_of[id] = id
        U[n] = id
        collect_refs(line, id)
        if (line !~ /\/>[ ]*$/) {
            unit = id
            unit_tag = tag_of(line)
            unit_indent = indent_of(line)
        }
        next
    }

    # Everything else (function declarations above all) is a root.
    collect_refs(line, "")
}

END {
    # Keep the types reachable from the roots.
    todo = roots
    while (todo != "") {
        count = split(todo, refs, " ")
        todo = ""
        for (i = 1; i <= count; i++) {
            u = unit_of[refs[i]]
            if (u == "" || (u in keep)) continue
            keep[u] = 1
            todo = todo deps[u]
        }
    }

    # Drop the unreachable types, then containers left empty (a closing tag
    # right after its opening tag), using the output as a stack.
    depth = 0
    for (i = 1; i <= n; i++) {
        if (U[i] != "" && !(U[i] in keep)) continue
        line = L[i]
        if (line ~ /^[ ]*<\/(namespace-decl|abi-instr)>[ ]*$/ && depth > 0) {
            prev = out[depth]
            if (prev !~ /^[ ]*<\// && prev !~ /\/>[ ]*$/ && tag_of(prev) == tag_of(line)) {
                depth--
                continue
            }
        }
        out[++depth] = line
    }

    tu = 0
    for (i = 1; i <= depth; i++) {
        line = out[i]
        if (line ~ /^[ ]*<abi-instr /) {
            tu++
            sub(/ path='[^']*'/, " path='tu-" tu "'", line)
            sub(/ comp-dir-path='[^']*'/, "", line)
        }
        print line
    }
}
