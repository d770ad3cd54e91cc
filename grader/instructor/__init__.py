"""The instructor's tools: validate (is the bundle trustworthy here), regen (golden files from the
reference), warm (the compilation cache), the vectors' quality and the wrong-variant probes."""
