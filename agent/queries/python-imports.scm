; What a test file takes from the modules it imports, and how it uses it.
; Loaded by agent/new/requirements.py; capture names are its vocabulary.

; import pkg.mod / import pkg.mod as m
(import_statement
  name: (dotted_name) @import.module)
(import_statement
  name: (aliased_import
    name: (dotted_name) @import.module
    alias: (identifier) @import.alias))

; from pkg.mod import f, g as h / from pkg import *
(import_from_statement
  module_name: (dotted_name) @from.module
  name: (dotted_name) @from.name)
(import_from_statement
  module_name: (dotted_name) @from.module
  name: (aliased_import
    name: (dotted_name) @from.name
    alias: (identifier) @from.alias))

; f(...)
(call
  function: (identifier) @call.function
  arguments: (argument_list) @call.arguments) @call

; obj.f(...) and pkg.mod.f(...)
(call
  function: (attribute
    object: (_) @call.object
    attribute: (identifier) @call.method)
  arguments: (argument_list) @call.arguments) @call

; obj.name, used or called
(attribute
  object: (_) @attribute.object
  attribute: (identifier) @attribute.name)

; s = Stack(...) / s = mod.Stack(...)
(assignment
  left: (identifier) @assign.variable
  right: (call
    function: (_) @assign.function))

; with Stack(...) as s:
(as_pattern
  (call
    function: (_) @assign.function)
  alias: (as_pattern_target (identifier) @assign.variable))

; from pkg import *
(import_from_statement
  module_name: (dotted_name) @from.module
  (wildcard_import))
