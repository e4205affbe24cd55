metadata(
    description="Bosch BME280 temperature/humidity/pressure sensor (I2C), datasheet integer compensation.",
    version="1.0.0",
)
module("bme280.py", opt=3)
