metadata(
    description="Nova Fitness SDS011 particulate sensor (UART): active reporting, sleep/wake.",
    version="1.0.0",
)
module("sds011.py", opt=3)
