"""The machine xlr runs on: devices and precision, distributed launches, progress output, the container, and
`xlr doctor`'s report of all of it."""
