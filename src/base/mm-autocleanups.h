/* Autoptr cleanups for third-party types that do not declare their own.
 *
 * GMime 3.2 declares none, SQLite and jansson are plain C.  Declare each
 * cleanup once, here, so that every module can write g_autoptr(GMimeMessage)
 * without redefining it.  Only the types this project uses are listed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#ifdef MM_WITH_GMIME
#include <gmime/gmime.h>
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessage, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeParser, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(InternetAddressList, g_object_unref)
#endif

#ifdef MM_WITH_JANSSON
#include <jansson.h>
typedef json_t MmJson;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmJson, json_decref)
#endif
