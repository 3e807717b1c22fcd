"""The eBPF tracer: what it is (tracer.py), where it runs (placement.py, helper.py), its BPF sources."""
