import PluginSDK
