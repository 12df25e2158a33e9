; A Python file's outline for fault localization: its definitions (with their
; whole span) and its imports, relative ones included.
; Loaded by agent/symbols.py; capture names are its vocabulary.

(function_definition
  name: (identifier) @def.name) @def.function
(class_definition
  name: (identifier) @def.name) @def.class

; import pkg.mod / import pkg.mod as m
(import_statement
  name: (dotted_name) @import.module)
(import_statement
  name: (aliased_import
    name: (dotted_name) @import.module
    alias: (identifier) @import.alias))

; from pkg.mod import f / from .mod import f as g / from . import mod
(import_from_statement
  module_name: (_) @from.module
  name: (dotted_name) @from.name)
(import_from_statement
  module_name: (_) @from.module
  name: (aliased_import
    name: (dotted_name) @from.name
    alias: (identifier) @from.alias))

; from pkg import *
(import_from_statement
  module_name: (_) @star.module
  (wildcard_import))
