# 8 fake CPU devices, set before jax is first imported, so tests exercise real sharding.
import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
