# smolprep preamble "venv": runs on the compute node before the task starts.
# Placeholders: $${modules} (module load lines), $${venv} (the environment to activate), $${hf_home},
# $${env} (export lines of the profile's `env`), $${stage}, $${dataset}, $${step}.
${modules}
source "${venv}/bin/activate"
export HF_HOME="${hf_home}"
export PYTHONUNBUFFERED=TRUE
${env}
