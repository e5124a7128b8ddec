"""`neuroscale up`: start the portal, the reconciler and the gateway as separate processes.

They are separate on purpose: the portal going down never takes an endpoint
down (it is not the deployment engine), and the reconciler can restart while
model servers and the gateway keep serving.
"""
