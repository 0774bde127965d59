-- What was odd but not fatal in an AML message (a declared length `ml` that does not
-- match: real handsets and the specification's own example send such values), kept with
-- the message whose location was accepted.
ALTER TABLE aml_messages ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]';
