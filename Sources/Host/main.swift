print("vmhost: under construction")
