'use strict';

/**
 * modelence-native-ws: the Modelence WebSocket server, natively.
 * The public API; the generated binding (`../index.js`) is an implementation detail.
 */
const { ServerChannel } = require('./server-channel');
const { Module } = require('./module');
const { startWebsocketServer, WebsocketServer } = require('./server');
const { createWebsocketProvider } = require('./provider');
const { createEmitter, Emitter } = require('./emitter');
const { codes } = require('./errors');
const { ackArgs } = require('./ack-args');
const { LiveData } = require('./live-data');

module.exports = {
  ServerChannel,
  Module,
  startWebsocketServer,
  WebsocketServer,
  createWebsocketProvider,
  createEmitter,
  Emitter,
  ackArgs,
  LiveData,
  errorCodes: codes,
};
