"""The device layer: configured devices, their connections, drivers, simulators and claims."""
