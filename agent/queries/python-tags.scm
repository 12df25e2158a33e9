; Definitions and references of a Python file, for the repo map.
; Loaded by agent/fix/repomap.py: `name.definition.*` names a definition (the
; enclosing `definition.*` node gives its signature), `name.reference.*` a use.

(class_definition
  name: (identifier) @name.definition.class) @definition.class

(function_definition
  name: (identifier) @name.definition.function) @definition.function

; module-level constants and aliases: X = ..., X: int = ...
(module
  (expression_statement
    (assignment
      left: (identifier) @name.definition.constant) @definition.constant))

; f(...), obj.f(...)
(call
  function: (identifier) @name.reference.call)
(call
  function: (attribute
    attribute: (identifier) @name.reference.call))

; from pkg.mod import name / name as alias
(import_from_statement
  name: (dotted_name
    (identifier) @name.reference.import))
(import_from_statement
  name: (aliased_import
    name: (dotted_name
      (identifier) @name.reference.import)))

; class C(Base): ...
(class_definition
  superclasses: (argument_list
    (identifier) @name.reference.class))

; obj.attr, and names in annotations
(attribute
  attribute: (identifier) @name.reference.attribute)
(type
  (identifier) @name.reference.type)

; Name used as a value: x = Name, f(Name), [Name]
(argument_list
  (identifier) @name.reference.value)
(assignment
  right: (identifier) @name.reference.value)
