metadata(
    description="Plantower PMS5003 particulate sensor (UART): active/passive, sleep/wake.", version="1.0.0"
)
module("pms5003.py", opt=3)
