; What a function body uses, for fault localization: the names it reads or
; calls, the attributes it takes (`obj.name`, `Class(...).method`), and the
; variables it binds to a call (`c = Cache(2)`, `with Pool() as p`), so that
; `c.get` can be read as `Cache.get`. Run on one function's subtree by
; agent/symbols.py; `param` names the function's own parameters (fixtures).

(identifier) @use.name

(attribute
  object: (_) @use.object
  attribute: (identifier) @use.attribute)

(assignment
  left: (identifier) @bind.variable
  right: (call
    function: (_) @bind.type))

(as_pattern
  (call
    function: (_) @bind.type)
  alias: (as_pattern_target
    (identifier) @bind.variable))

(parameters
  (identifier) @param)
(parameters
  (typed_parameter
    (identifier) @param))
(parameters
  (default_parameter
    name: (identifier) @param))
(parameters
  (typed_default_parameter
    name: (identifier) @param))

; operators that call methods: x[k] (__getitem__, __setitem__), len(x) (__len__)
(subscript
  value: (identifier) @use.subscripted)
(call
  function: (identifier) @use.builtin
  arguments: (argument_list
    .
    (identifier) @use.argument
    .))
