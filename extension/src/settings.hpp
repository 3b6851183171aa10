// vox's settings (GUCs), defined when the library loads.
#pragma once

namespace vox {

extern char* setting_database;            // vox.database: the maintenance worker's database
extern char* setting_maintenance_role;         // vox.maintenance_role: the role a maintenance round runs as
extern int setting_maintenance_interval;  // vox.maintenance_interval, seconds
extern int setting_retention;             // vox.retention, seconds
extern int setting_queue_max_attempts;    // vox.queue_max_attempts
extern int setting_parked_max_attempts;   // vox.parked_max_attempts
extern int setting_recording_retention;   // vox.recording_retention, seconds (0: forever)
extern bool setting_notify;               // vox.notify: NOTIFY vox_outbox on new outbox rows

// preloading: loaded through shared_preload_libraries.
void define_settings(bool preloading);

}  // namespace vox
