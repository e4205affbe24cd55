metadata(description="MaxBotix MaxSonar range finder, serial R####<CR> output in mm.", version="1.0.0")
module("maxbotix.py", opt=3)
