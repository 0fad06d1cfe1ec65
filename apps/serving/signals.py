"""Sent by the serving services inside their transaction when a deployment's backend has work to do; the
receivers (apps.serving.tasks, connected in ServingConfig.ready) enqueue it after commit, so services never
import the tasks."""

from django.dispatch import Signal

# deployment_id: a vllm_lora deployment was created; its adapter is to be loaded into its vLLM server.
backend_start_wanted = Signal()
# deployment_id: a vllm_lora deployment stopped; its adapter is to be unloaded.
backend_stop_wanted = Signal()
