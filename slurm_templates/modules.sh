# smolprep preamble "modules": for sites where Python comes from environment modules.
# Set `modules: [python/3.11]` (and `venv:` if the venv lives elsewhere) in the cluster profile.
module purge
${modules}
source "${venv}/bin/activate"
export HF_HOME="${hf_home}"
export PYTHONUNBUFFERED=TRUE
${env}
