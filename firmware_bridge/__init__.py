"""Wire protocol between a wearable IMU and the gateway, its reference firmware and an emulator (stdlib only)."""
