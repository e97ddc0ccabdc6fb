// The one place a FileInfo is built. Every answer that describes a file carries the same times,
// sizes and attributes: CREATE ([MS-SMB2] 2.2.14), QUERY_INFO FileAllInformation ([MS-FSCC]
// 2.4.2: FileBasicInformation + FileStandardInformation) and QUERY_DIRECTORY entries ([MS-FSCC]
// 2.4.17). Internal to smb2/client.
#ifndef SMBD_SMB2_CLIENT_FILE_INFO_H_
#define SMBD_SMB2_CLIENT_FILE_INFO_H_

#include <string>
#include <utility>

#include "smb2/client/types.h"
#include "smb2/pdu/query_info.h"

namespace smbd {
namespace client_internal {

// `times` has the four FILETIMEs and file_attributes, `sizes` end_of_file and allocation_size
// (the same struct for CREATE answers and directory entries).
template <typename Times, typename Sizes>
FileInfo MakeFileInfo(std::string name, const Times& times, const Sizes& sizes) {
  FileInfo fi;
  fi.name = std::move(name);
  fi.size = sizes.end_of_file;
  fi.allocation_size = sizes.allocation_size;
  fi.attributes = times.file_attributes;
  fi.creation_time = times.creation_time;
  fi.last_access_time = times.last_access_time;
  fi.last_write_time = times.last_write_time;
  fi.change_time = times.change_time;
  return fi;
}

inline FileInfo MakeFileInfo(std::string name, const FileAllInfo& all) {
  return MakeFileInfo(std::move(name), all.basic, all.standard);
}

}  // namespace client_internal
}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_FILE_INFO_H_
