"""A study's data as one ZIP: archive.py writes it (write_study_zip, study_zip_file), rows.py
builds its rows, columns.py is the codebook that both the rows and the README follow."""
