"""After training: optimise a run (pruned and int8 variants), monitor it once served, feed back.

Sits above core.export (it quantises the ONNX export and records what the server predicts) and
below the engine.
"""
